/* A plugin whose ABI version symbol is an absolute symbol at address 0:
 * dlsym returns NULL for it without an error. */
#define HOSTGRAPH_ORCH_NO_VERSION_EXPORT
#include "orchestration_api.h"
__asm__(".globl hostgraph_orch_abi_version\n.set hostgraph_orch_abi_version, 0\n");
int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    (void)rt;
    (void)args;
    return 0;
}
