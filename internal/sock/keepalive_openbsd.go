package sock

// OpenBSD sets the keep-alive period system-wide (net.inet.tcp.keepidle);
// SO_KEEPALIVE alone is applied per socket.
func setKeepAlivePeriod(fd, secs int) error { return nil }
