/* placeholder: being written */
#include "dragoman/jitter.h"
