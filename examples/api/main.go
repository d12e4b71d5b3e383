// Command api serves the workset HTTP API (the deployed
// daylily-workset-api's endpoints) over DynamoDB, or over the in-memory store.
//
//	go run ./examples/api --memory                        # no AWS at all
//	go run ./examples/api --table-name daylily-worksets --region us-west-2 --create-table
//
// It listens on --host (default 127.0.0.1) and --port (default 8000) and stops
// gracefully on SIGINT or SIGTERM (in-flight requests finish). Slow clients are
// cut off (--read-timeout, --idle-timeout, ...).
//
// Authentication: --auth oidc verifies bearer JWTs of --oidc-issuer (a Cognito
// user pool, say) for --oidc-audience; a customer (--customer-claim) sees only
// its own worksets, an operator (--operator-group) all of them. --auth none
// (the default) serves only on a loopback address unless --insecure-no-auth is
// given. CORS is off unless --cors-origin names origins. The operator console
// is at /console/, with the same authentication.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/api"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

func main() {
	table := flag.String("table-name", dynamostore.DefaultTable, "DynamoDB table")
	region := flag.String("region", "us-west-2", "AWS region")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8000, "port to listen on")
	create := flag.Bool("create-table", false, "create the table (with the deployed indexes) if missing")
	endpoint := flag.String("dynamodb-endpoint", "", "DynamoDB endpoint URL (an emulator)")
	memory := flag.Bool("memory", false, "serve the embedded in-memory store: no AWS at all")
	verbose := flag.Bool("verbose", false, "log every workset event")
	var ac authConfig
	flag.StringVar(&ac.mode, "auth", "none", "authentication: oidc (bearer JWTs of --oidc-issuer) or none (loopback only)")
	flag.StringVar(&ac.oidc.Issuer, "oidc-issuer", "", "OIDC issuer URL, e.g. https://cognito-idp.<region>.amazonaws.com/<pool-id>")
	flag.StringVar(&ac.oidc.Audience, "oidc-audience", "", "the audience (app client id) tokens must be for")
	flag.StringVar(&ac.oidc.CustomerClaim, "customer-claim", "custom:customer_id", "token claim naming the caller's customer")
	flag.StringVar(&ac.oidc.GroupsClaim, "groups-claim", "cognito:groups", "token claim listing the caller's groups")
	flag.StringVar(&ac.oidc.OperatorGroup, "operator-group", "", "group whose members (operators, monitors) act on every workset")
	flag.StringVar(&ac.cors, "cors-origin", "", "comma-separated browser origins allowed to call the API (never *)")
	flag.BoolVar(&ac.insecure, "insecure-no-auth", false, "with --auth none, allow listening on a non-loopback address (anyone who can reach it can do anything)")
	so := api.DefaultServerOptions()
	flag.DurationVar(&so.ReadHeaderTimeout, "read-header-timeout", so.ReadHeaderTimeout, "time allowed to read a request's headers")
	flag.DurationVar(&so.ReadTimeout, "read-timeout", so.ReadTimeout, "time allowed to read a whole request (slow bodies are cut off)")
	flag.DurationVar(&so.WriteTimeout, "write-timeout", so.WriteTimeout, "time allowed to write a response")
	flag.DurationVar(&so.IdleTimeout, "idle-timeout", so.IdleTimeout, "idle keep-alive connections are closed after this")
	flag.IntVar(&so.MaxHeaderBytes, "max-header-bytes", so.MaxHeaderBytes, "largest request headers accepted")
	flag.DurationVar(&so.ShutdownTimeout, "shutdown-timeout", so.ShutdownTimeout, "on SIGTERM, time in-flight requests get to finish")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(ctx, logger, *table, *region, *host, *port, *create, *endpoint, *memory, *verbose, so, ac); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// authConfig is what the authentication flags say.
type authConfig struct {
	mode     string
	oidc     api.OIDCConfig
	cors     string
	insecure bool
}

// authenticator checks the flags against the address and returns the
// authenticator to use (nil for none).
func (ac authConfig) authenticator(ctx context.Context, logger *slog.Logger, host string) (api.Authenticator, error) {
	switch ac.mode {
	case "oidc":
		if ac.oidc.Issuer == "" || ac.oidc.Audience == "" {
			return nil, errors.New("--auth oidc needs --oidc-issuer and --oidc-audience")
		}
		return api.NewOIDCAuthenticator(ctx, ac.oidc)
	case "none":
		ip := net.ParseIP(host)
		loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
		switch {
		case loopback:
			return nil, nil
		case !ac.insecure:
			return nil, fmt.Errorf("refusing to serve without authentication on %s (not a loopback address): use --auth oidc, or --insecure-no-auth if you really mean it", host)
		}
		logger.Warn("!!! SERVING WITHOUT AUTHENTICATION ON A NON-LOOPBACK ADDRESS: anyone who can reach " + host + " can register, lock, move and list every workset (--insecure-no-auth)")
		return nil, nil
	}
	return nil, fmt.Errorf("--auth %q: want oidc or none", ac.mode)
}

func run(ctx context.Context, logger *slog.Logger, table, region, host string, port int, create bool, endpoint string, memory, verbose bool, so api.ServerOptions, ac authConfig) error {
	auth, err := ac.authenticator(ctx, logger, host)
	if err != nil {
		return err
	}
	var store workset.StateStore
	if memory {
		s, err := memstore.New()
		if err != nil {
			return err
		}
		store = s
	} else {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return fmt.Errorf("loading AWS configuration: %w", err)
		}
		client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		})
		s, err := dynamostore.New(client, table, func(o *dynamostore.Options) { o.Logger = logger })
		if err != nil {
			return err
		}
		if create {
			if err := s.CreateTable(ctx, 5*time.Minute); err != nil {
				return err
			}
		}
		store = s
	}
	if verbose {
		store = observe.Wrap(store, observe.Slog(logger))
	}
	h, err := api.New(store, func(o *api.Options) {
		o.Logger, o.Auth = logger, auth
		if ac.cors != "" {
			o.CORSOrigins = strings.Split(ac.cors, ",")
		}
	})
	if err != nil {
		return err
	}
	// The console beside the JSON API, with the same authentication.
	console, err := api.NewConsole(store, func(o *api.Options) { o.Logger, o.Auth = logger, auth })
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle(api.ConsolePath, console)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return err
	}
	if memory {
		logger.Info("serving the workset API over the in-memory store", "addr", ln.Addr().String())
	} else {
		logger.Info("serving the workset API", "addr", ln.Addr().String(), "table", table)
	}
	logger.Info("the operator console", "url", "http://"+ln.Addr().String()+api.ConsolePath)
	if err := api.Serve(ctx, ln, mux, so); err != nil {
		return err
	}
	logger.Info("stopped: in-flight requests finished")
	return nil
}
