// Includes orchestration_api.h as C++ and links with second_tu.c (also
// compiled as C++): prints "name value" lines for tests/layout.rs.
#include "orchestration_api.h"
#include "orchestration_api.h" // twice: the include guard must hold

#include <cstdio>

extern "C" const uint32_t *second_tu_version_addr(void);

int main() {
  std::printf("link.same_symbol %d\n", &hostgraph_orch_abi_version == second_tu_version_addr() ? 1 : 0);
  std::printf("symbol.hostgraph_orch_abi_version %u\n", static_cast<unsigned>(hostgraph_orch_abi_version));
  std::printf("wrapper.null_rt.add_task %d\n", static_cast<int>(add_task(nullptr, nullptr, 0, 0, CORE_TYPE_AIV)));
  std::printf("wrapper.null_rt.device_malloc_is_null %d\n", device_malloc(nullptr, 8) == nullptr ? 1 : 0);
  return 0;
}
