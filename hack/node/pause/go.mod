module scaivault.io/federation/node/pause

go 1.26.0
