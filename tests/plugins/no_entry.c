/* Exports the ABI version but names its entry something else. */
#include "orchestration_api.h"

int build_graph(OrchestrationRuntime *rt, const OrchArgs *args) {
    (void)rt;
    (void)args;
    return 0;
}
