/* data_type.h -- the reference runtime's include name for part of its orchestration
 * interface; hostgraph's reference-compatible header declares all of it. */
#include "orchestration_api.h"
