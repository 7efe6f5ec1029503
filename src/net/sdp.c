/* placeholder: being written */
#include "dragoman/sdp.h"
