// zlib (Debian's zlib1g-dev): gzip reading for MNIST, deflate for PNG.
#include <zlib.h>
