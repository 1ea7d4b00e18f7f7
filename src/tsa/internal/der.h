#pragma once

// Private to tsa/ (and its tests): the DER reader and writer of core/der.h under the name the
// TSA code uses.

#include "core/der.h"

namespace autoseal::tsa::der {

using namespace ::autoseal::der;

}  // namespace autoseal::tsa::der
