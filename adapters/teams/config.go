package teams

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// App types, as the Bot Framework SDKs name them (MicrosoftAppType).
const (
	SingleTenant = "SingleTenant"
	MultiTenant  = "MultiTenant"
)

// Public endpoints, used unless the configuration overrides them.
const (
	DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	DefaultServiceURL        = "https://smba.trafficmanager.net/teams/"
	DefaultScope             = "https://api.botframework.com/.default"
	// multiTenantAuthority is the token authority of legacy multi-tenant
	// bots; single-tenant bots must use their own tenant's.
	multiTenantAuthority = "botframework.com"
)

// Config configures the adapter. Zero values mean the documented defaults.
type Config struct {
	AppID       string // MicrosoftAppId: the bot's Entra application (client) id
	AppPassword string // MicrosoftAppPassword: a client secret of that application
	TenantID    string // MicrosoftAppTenantId: the Entra tenant of a single-tenant bot
	AppType     string // MicrosoftAppType: SingleTenant (the default when TenantID is set) or MultiTenant

	// OpenIDMetadataURL is where inbound tokens' signing keys are found
	// (TEAMS_OPENID_METADATA_URL; default DefaultOpenIDMetadataURL).
	OpenIDMetadataURL string
	// TokenURL is the client-credentials endpoint for outbound calls
	// (TEAMS_TOKEN_URL; default https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token,
	// with botframework.com as the tenant of multi-tenant bots).
	TokenURL string
	// Scope is the outbound token's scope (default DefaultScope).
	Scope string
	// Issuer is the accepted issuer of inbound tokens (default: the one
	// the OpenID metadata names, https://api.botframework.com in the public cloud).
	Issuer string
	// ServiceURL is where 1:1 chats are opened and channels posted to when
	// no activity from the tenant has told us its own (default DefaultServiceURL).
	ServiceURL string

	MaxBody        int64         // largest accepted request body (default 256 KiB)
	Timeout        time.Duration // limit of every outbound HTTP call (default 15 s)
	Attempts       int           // tries of a connector call on 429/412/502/504 (default 3)
	MaxRetryWait   time.Duration // longest Retry-After waited in place; longer ones go back to the dispatcher (default 10 s)
	Pace           rate.Limit    // sends per second per conversation (default 0.5: Teams allows 1,800 an hour); rate.Inf turns pacing off
	Burst          int           // sends a conversation may burst (default 6; Teams allows 7 a second)
	GlobalPace     rate.Limit    // sends per second overall (default 30; Teams allows 50 per app and tenant)
	KeyRefresh     time.Duration // how often signing keys are reloaded even if none is unknown (default 24 h)
	UnknownKeyWait time.Duration // least time between key reloads caused by unknown key ids (default 1 min)

	// HTTPClient makes every outbound call (default: a client with Timeout).
	HTTPClient *http.Client
}

// LoadConfig reads the Bot Framework's conventional variables and the
// TEAMS_* overrides. ok is false when Teams is not configured (neither
// MicrosoftAppId nor MicrosoftAppPassword is set).
func LoadConfig(getenv func(string) string) (cfg Config, ok bool, err error) {
	cfg = Config{
		AppID:             strings.TrimSpace(getenv("MicrosoftAppId")),
		AppPassword:       getenv("MicrosoftAppPassword"),
		TenantID:          strings.TrimSpace(getenv("MicrosoftAppTenantId")),
		AppType:           strings.TrimSpace(getenv("MicrosoftAppType")),
		OpenIDMetadataURL: strings.TrimSpace(getenv("TEAMS_OPENID_METADATA_URL")),
		TokenURL:          strings.TrimSpace(getenv("TEAMS_TOKEN_URL")),
	}
	if cfg.AppID == "" && cfg.AppPassword == "" {
		return Config{}, false, nil
	}
	return cfg, true, cfg.check()
}

// withDefaults resolves the zero values.
func (c Config) withDefaults() Config {
	if c.AppType == "" {
		c.AppType = MultiTenant
		if c.TenantID != "" {
			c.AppType = SingleTenant
		}
	}
	c.OpenIDMetadataURL = cmp.Or(c.OpenIDMetadataURL, DefaultOpenIDMetadataURL)
	if c.TokenURL == "" {
		authority := multiTenantAuthority
		if c.AppType == SingleTenant {
			authority = c.TenantID
		}
		c.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(authority) + "/oauth2/v2.0/token"
	}
	c.Scope = cmp.Or(c.Scope, DefaultScope)
	c.ServiceURL = cmp.Or(c.ServiceURL, DefaultServiceURL)
	c.MaxBody = cmp.Or(c.MaxBody, 256<<10)
	c.Timeout = cmp.Or(c.Timeout, 15*time.Second)
	c.Attempts = cmp.Or(c.Attempts, 3)
	c.MaxRetryWait = cmp.Or(c.MaxRetryWait, 10*time.Second)
	c.Pace = cmp.Or(c.Pace, 0.5)
	c.Burst = cmp.Or(c.Burst, 6)
	c.GlobalPace = cmp.Or(c.GlobalPace, 30)
	c.KeyRefresh = cmp.Or(c.KeyRefresh, 24*time.Hour)
	c.UnknownKeyWait = cmp.Or(c.UnknownKeyWait, time.Minute)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.Timeout}
	}
	return c
}

// tenantGUID is the form of an Entra tenant id.
var tenantGUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// check reports what is missing or wrong, in words that say how to fix it.
func (c Config) check() error {
	var errs []error
	if c.AppID == "" {
		errs = append(errs, errors.New("MicrosoftAppId is not set: use the Application (client) ID of the bot's Entra app registration"))
	}
	if c.AppPassword == "" {
		errs = append(errs, errors.New("MicrosoftAppPassword is not set: create a client secret under the app registration's Certificates & secrets"))
	}
	switch c.AppType {
	case "", SingleTenant, MultiTenant:
	case "UserAssignedMSI":
		errs = append(errs, errors.New("MicrosoftAppType UserAssignedMSI is not supported yet: register the bot as SingleTenant with a client secret"))
	default:
		errs = append(errs, fmt.Errorf("MicrosoftAppType %q: use SingleTenant or MultiTenant", c.AppType))
	}
	switch {
	case c.AppType == SingleTenant && c.TenantID == "":
		errs = append(errs, errors.New("MicrosoftAppTenantId is not set: a SingleTenant bot needs its Directory (tenant) ID, shown on the app registration's overview"))
	case c.AppType == "" && c.TenantID == "":
		// Not a multi-tenant bot by default: none has been registered since
		// July 2025, and one would take every tenant's activities.
		errs = append(errs, errors.New("MicrosoftAppTenantId is not set: set it to the bot's Directory (tenant) ID, shown on the app registration's overview (a legacy multi-tenant bot, registered before August 2025, sets MicrosoftAppType=MultiTenant instead)"))
	case c.TenantID != "" && c.AppType != MultiTenant && !tenantGUID.MatchString(c.TenantID): // single-tenant, said or by default
		// Activities name their tenant by its GUID, which the tenant check
		// compares: a domain (contoso.onmicrosoft.com) would refuse them all.
		errs = append(errs, fmt.Errorf("MicrosoftAppTenantId %q: use the Directory (tenant) ID, a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47, shown on the app registration's overview", c.TenantID))
	}
	for _, u := range []struct{ name, value string }{
		{"TEAMS_OPENID_METADATA_URL", c.OpenIDMetadataURL}, {"TEAMS_TOKEN_URL", c.TokenURL}, {"service URL", c.ServiceURL},
	} {
		if u.value == "" {
			continue
		}
		if p, err := url.Parse(u.value); err != nil || p.Host == "" || p.Scheme != "https" && p.Scheme != "http" {
			errs = append(errs, fmt.Errorf("%s %q: write an absolute https:// URL", u.name, u.value))
		}
	}
	return errors.Join(errs...)
}

// String keeps the secret out of anything that prints a Config.
func (c Config) String() string {
	return fmt.Sprintf("teams.Config{AppID:%s TenantID:%s AppType:%s AppPassword:%s}", c.AppID, c.TenantID, c.AppType, redacted(c.AppPassword))
}

// GoString keeps the secret out of %#v.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the secret out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("app_id", c.AppID), slog.String("tenant", c.TenantID), slog.String("app_type", c.AppType),
		slog.String("app_password", redacted(c.AppPassword)))
}

func redacted(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "(redacted)"
}

// TokenEndpoint returns where outbound tokens come from and their scope,
// defaults resolved (for `baton doctor`).
func (c Config) TokenEndpoint() (tokenURL, scope string) {
	d := c.withDefaults()
	return d.TokenURL, d.Scope
}
