/* placeholder: being written */
#include "dragoman/playout.h"
