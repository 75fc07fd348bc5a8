package secret

import "testing"

func TestName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "sentinel_Password": true, "PASS": true, "client_secret": true, "token": true,
		"credentials": true, "sentinel_auth": true, "apikey": true, "x_api_key": true,
		"prefix": false, "timeout": false, "max_key_size": false, "": false,
	} {
		if got := Name(name); got != want {
			t.Errorf("Name(%q) = %v; want %v", name, got, want)
		}
	}
}
