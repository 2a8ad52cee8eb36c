package qrlogin

// NewCheckCodeForTest builds a CheckCode from its bytes (tests only).
func NewCheckCodeForTest(b [2]byte) CheckCode { return CheckCode{b: b} }
