/* Claims to be built for ABI version 99. */
#define HOSTGRAPH_ORCH_NO_VERSION_EXPORT
#include "orchestration_api.h"

__attribute__((visibility("default"))) const uint32_t hostgraph_orch_abi_version = 99;

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    (void)rt;
    (void)args;
    return 0;
}
