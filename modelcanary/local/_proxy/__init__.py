"""The local runtime's HTTP/1.1 proxy: the router, its table, client, forwarding, wire format."""
