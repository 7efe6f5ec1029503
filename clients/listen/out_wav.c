/* placeholder: being written */
#include "dragoman/error.h"
