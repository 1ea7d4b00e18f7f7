// The fuzz preset builds our code against libc++, but Debian's libboost_json is built against
// libstdc++; compiling Boost.JSON's sources here gives the fuzzers a libc++ copy of it.
#include <boost/json/src.hpp>
