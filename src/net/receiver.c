/* placeholder: being written */
#include "dragoman/receiver.h"
