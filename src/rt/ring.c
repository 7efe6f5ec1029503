/* placeholder: being written */
#include "dragoman/ring.h"
