/* placeholder: being written */
#include "dragoman/rtp.h"
