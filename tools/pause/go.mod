module dashstream.dev/tools/pause

go 1.24
