package memstore_test

import (
	"testing"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/machine/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) machine.Store { return memstore.New() })
}

func TestMachine(t *testing.T) {
	storetest.RunMachine(t, func(t *testing.T) machine.Store { return memstore.New() })
}
