// The single translation unit that compiles Asio and its SSL support
// (BOOST_ASIO_SEPARATE_COMPILATION): every other file includes only declarations, which
// keeps rebuilds of the I/O code fast on small machines.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
