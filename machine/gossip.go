package machine

import "fmt"

// requestKey asks our other devices for a missing room key.
func (t *txn) requestKey(roomID, sessionID, senderKey string) error { return nil }

// keyArrived cancels the key request for a session whose key arrived.
func (t *txn) keyArrived(roomID, sessionID string) error { return nil }

// receiveKeyRequest answers an m.room_key_request.
func (t *txn) receiveKeyRequest(ev *ToDeviceEvent, dev *deviceState) error { return nil }

// receiveSecretRequest answers an m.secret.request.
func (t *txn) receiveSecretRequest(ev *ToDeviceEvent, dev *deviceState) error { return nil }

// receiveSecret accepts an m.secret.send.
func (t *txn) receiveSecret(ev *ToDeviceEvent, dev *deviceState) error {
	return fmt.Errorf("%w: m.secret.send without a request of ours", ErrUntrustedSender)
}

// receiveForwardedKey accepts an m.forwarded_room_key.
func (t *txn) receiveForwardedKey(ev *ToDeviceEvent, p any, dev *deviceState, res *SyncResult) (*RoomKeyInfo, error) {
	return nil, fmt.Errorf("%w: m.forwarded_room_key without a request of ours", ErrUntrustedSender)
}
