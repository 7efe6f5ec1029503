/* placeholder: being written */
#include "dragoman/srtp.h"
