/* placeholder: being written */
#include "dragoman/keys.h"
