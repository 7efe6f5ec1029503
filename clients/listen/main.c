/* placeholder: being written */
#include "dragoman/error.h"
int main(void) { return 1; }
