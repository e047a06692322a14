// Build stamp of the repro binary: the engine's git commit (with "-dirty" for uncommitted
// changes), written by tools/workspace_status.sh through a stamped genrule.
#pragma once

namespace wan {
const char* engine_commit();
}  // namespace wan
