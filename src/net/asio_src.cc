// Compiles the non-template parts of Asio (including its SSL layer) and Beast exactly once, for
// every target linking autoseal_net (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are PUBLIC definitions of that target).

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
