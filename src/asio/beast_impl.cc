// The one translation unit that compiles Asio, Beast and Asio's SSL support
// (BOOST_*_SEPARATE_COMPILATION is set project-wide), so other files only parse headers.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
