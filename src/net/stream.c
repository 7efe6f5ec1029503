/* placeholder: being written */
#include "dragoman/stream.h"
