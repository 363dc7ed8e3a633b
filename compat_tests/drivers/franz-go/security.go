package main

// The runner's --client-config (compat_tests/drivers/README.md): TLS and SASL settings applied to
// every client the driver makes, and the broker throttle times franz-go reports.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type clientConfig struct {
	SecurityProtocol       string `json:"security_protocol"`
	SaslMechanism          string `json:"sasl_mechanism"`
	SaslUsername           string `json:"sasl_username"`
	SaslPassword           string `json:"sasl_password"`
	SslCaLocation          string `json:"ssl_ca_location"`
	SslCertificateLocation string `json:"ssl_certificate_location"`
	SslKeyLocation         string `json:"ssl_key_location"`
}

// securityOpts turns the client config into kgo options: kgo.DialTLSConfig for SSL / SASL_SSL and
// kgo.SASL for SASL_*. An error says why franz-go cannot be set up that way (ops then answer
// `unsupported`).
func securityOpts(raw string) ([]kgo.Opt, error) {
	if raw == "" {
		return nil, nil
	}
	var c clientConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("bad --client-config: %v", err)
	}
	var opts []kgo.Opt
	switch c.SecurityProtocol {
	case "", "PLAINTEXT":
		return nil, nil
	case "SSL", "SASL_SSL":
		cfg, err := tlsConfig(&c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	case "SASL_PLAINTEXT":
	default:
		return nil, fmt.Errorf("unknown security_protocol %q", c.SecurityProtocol)
	}
	if c.SecurityProtocol == "SASL_SSL" || c.SecurityProtocol == "SASL_PLAINTEXT" {
		m, err := saslMechanism(&c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func saslMechanism(c *clientConfig) (sasl.Mechanism, error) {
	switch c.SaslMechanism {
	case "PLAIN":
		return plain.Auth{User: c.SaslUsername, Pass: c.SaslPassword}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.SaslUsername, Pass: c.SaslPassword}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.SaslUsername, Pass: c.SaslPassword}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("SASL mechanism not set up by the franz-go driver: %q", c.SaslMechanism)
}

// tlsConfig trusts the CA PEM and presents the client certificate when one is given (mTLS).
func tlsConfig(c *clientConfig) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.SslCaLocation != "" {
		pem, err := os.ReadFile(c.SslCaLocation)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", c.SslCaLocation)
		}
	}
	if c.SslCertificateLocation != "" {
		cert, err := tls.LoadX509KeyPair(c.SslCertificateLocation, c.SslKeyLocation)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// throttleHook keeps the largest throttle time brokers reported (kgo.HookBrokerThrottle) since
// the last reset.
type throttleHook struct{ maxMs atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, interval time.Duration, _ bool) {
	ms := interval.Milliseconds()
	for {
		cur := h.maxMs.Load()
		if ms <= cur || h.maxMs.CompareAndSwap(cur, ms) {
			return
		}
	}
}

// take returns the largest throttle time seen since the previous take and starts over.
func (h *throttleHook) take() int64 { return h.maxMs.Swap(0) }

var _ kgo.HookBrokerThrottle = (*throttleHook)(nil)
