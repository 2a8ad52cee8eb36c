package machine

// DeviceGen returns m's in-memory device generation, for tests.
func DeviceGen(m *Machine) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deviceGen
}
