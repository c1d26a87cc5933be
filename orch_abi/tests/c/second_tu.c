/* A second translation unit including orchestration_api.h (compiled as C
 * and as C++): the weak version definitions of both units must link into
 * one symbol. */
#include "orchestration_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The address of hostgraph_orch_abi_version as this unit sees it. */
const uint32_t *second_tu_version_addr(void);

#ifdef __cplusplus
}
#endif

const uint32_t *second_tu_version_addr(void) { return &hostgraph_orch_abi_version; }
