/* A kernel object whose symbol "k" is an absolute symbol at address 0:
 * dlsym returns NULL for it without an error. */
__asm__(".globl k\n.type k,@function\n.set k, 0\n");
int unrelated(void) { return 0; }
