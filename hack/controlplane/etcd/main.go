// Command etcd is the upstream etcd server, built from the pinned release for
// the local control plane used by `dev` and tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
