/* placeholder: being written */
#include "dragoman/config.h"
