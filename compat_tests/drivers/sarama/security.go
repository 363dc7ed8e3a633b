package main

// The runner's --client-config (compat_tests/drivers/README.md): TLS and SASL settings applied to
// every client the driver makes (Net.TLS, Net.SASL with handshake v1), and the broker throttle
// times sarama records in its metrics.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
	"github.com/xdg-go/scram"
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

// security is the parsed --client-config; apply sets it on a sarama.Config.
type security struct {
	protocol string
	tls      *tls.Config
	sasl     clientConfig
}

// parseSecurity reads the client config. An error says why sarama cannot be set up that way
// (ops then answer `unsupported`).
func parseSecurity(raw string) (*security, error) {
	s := &security{protocol: "PLAINTEXT"}
	if raw == "" {
		return s, nil
	}
	var c clientConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("bad --client-config: %v", err)
	}
	switch c.SecurityProtocol {
	case "", "PLAINTEXT":
		return s, nil
	case "SSL", "SASL_SSL", "SASL_PLAINTEXT":
	default:
		return nil, fmt.Errorf("unknown security_protocol %q", c.SecurityProtocol)
	}
	s.protocol = c.SecurityProtocol
	if strings.HasSuffix(s.protocol, "SSL") {
		cfg, err := tlsConfig(&c)
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	if strings.HasPrefix(s.protocol, "SASL_") {
		switch c.SaslMechanism {
		case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		default:
			return nil, fmt.Errorf("SASL mechanism not set up by the sarama driver: %q", c.SaslMechanism)
		}
		s.sasl = c
	}
	return s, nil
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

func (s *security) apply(c *sarama.Config) {
	if s.tls != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = s.tls
	}
	if s.sasl.SaslMechanism == "" {
		return
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1 // SaslHandshake v1 + SaslAuthenticate (KIP-152)
	c.Net.SASL.Mechanism = sarama.SASLMechanism(s.sasl.SaslMechanism)
	c.Net.SASL.User = s.sasl.SaslUsername
	c.Net.SASL.Password = s.sasl.SaslPassword
	switch s.sasl.SaslMechanism {
	case sarama.SASLTypeSCRAMSHA256:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case sarama.SASLTypeSCRAMSHA512:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	}
}

// scramClient is sarama's SCRAMClient over xdg-go/scram, as in sarama's sasl_scram_client example
// (sarama leaves the SCRAM conversation to the application).
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *scramClient) Begin(user, password, authzID string) error {
	c, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }

func (x *scramClient) Done() bool { return x.conv.Done() }

// throttleMetricPrefix names sarama's per-broker histogram of the throttle_time_ms responses carry.
const throttleMetricPrefix = "throttle-time-in-ms-for-broker-"

// eachThrottleHistogram calls f with every broker's throttle-time histogram in the registry.
func eachThrottleHistogram(r metrics.Registry, f func(metrics.Histogram)) {
	r.Each(func(name string, m any) {
		if h, ok := m.(metrics.Histogram); ok && strings.HasPrefix(name, throttleMetricPrefix) {
			f(h)
		}
	})
}

// resetThrottle clears the throttle histograms, so that maxThrottleMs covers what follows.
func resetThrottle(r metrics.Registry) {
	eachThrottleHistogram(r, func(h metrics.Histogram) { h.Clear() })
}

// maxThrottleMs is the largest throttle time any broker reported since the last reset.
func maxThrottleMs(r metrics.Registry) int64 {
	var top int64
	eachThrottleHistogram(r, func(h metrics.Histogram) { top = max(top, h.Max()) })
	return top
}
