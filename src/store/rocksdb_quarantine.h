// The quarantine family's records (internal to src/store): a DamagedRecord as one JSON
// object, its bytes byte for byte, so that `ldb scan` shows an operator what was found.
#pragma once

#include <string>
#include <string_view>

#include "store/store.h"

namespace herald::store_layout {

std::string encode_damaged_record(const DamagedRecord& record);
// Throws StoreError when `json` is not a quarantine record.
DamagedRecord decode_damaged_record(std::string_view json);

}  // namespace herald::store_layout
