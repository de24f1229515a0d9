package manifests_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonbot/baton/bot"
)

// The deployment files are not compiled; these tests keep them in step with
// the code: the probe paths are routes of bot.Server, the ports are
// BATON_HTTP_ADDR's default, the selectors match.

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env     []envVar `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

type deployment struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func load(t *testing.T, path string, v any) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// defaultPort is BATON_HTTP_ADDR's default port.
func defaultPort(t *testing.T) int {
	t.Helper()
	cfg, err := bot.LoadConfig(nil, func(string) string { return "" }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// serverAnswers reports the status bot.Server gives GET path (with Redis
// reachable).
func serverAnswers(t *testing.T, path string) int {
	t.Helper()
	s := bot.NewServer(":0", slog.New(slog.NewTextHandler(io.Discard, nil)), bot.NewMetrics(nil), prometheus.NewRegistry(),
		func(context.Context) error { return nil })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	port := defaultPort(t)
	var d deployment
	load(t, "k8s/deployment.yaml", &d)
	if d.Kind != "Deployment" || d.Spec.Replicas != 3 {
		t.Errorf("kind %q replicas %d, want a Deployment of 3", d.Kind, d.Spec.Replicas)
	}
	sel := d.Spec.Selector.MatchLabels
	if len(sel) == 0 {
		t.Fatal("the Deployment has no selector")
	}
	for k, v := range sel {
		if d.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, d.Spec.Template.Metadata.Labels)
		}
	}
	pod := d.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", pod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != port {
		t.Errorf("container ports %+v, want %d (BATON_HTTP_ADDR's default)", c.Ports, port)
	}
	for _, e := range c.Env {
		if e.Name == "BATON_HTTP_ADDR" && e.Value != ":"+strconv.Itoa(port) {
			t.Errorf("BATON_HTTP_ADDR %q, want :%d (the container port)", e.Value, port)
		}
	}
	for name, p := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil {
			t.Errorf("no %s probe", name)
			continue
		}
		if code := serverAnswers(t, p.HTTPGet.Path); code != http.StatusOK {
			t.Errorf("%s probe GET %s: the server answers %d", name, p.HTTPGet.Path, code)
		}
		if p.HTTPGet.Port != c.Ports[0].Name && p.HTTPGet.Port != uint64(port) {
			t.Errorf("%s probe port %v is not the container's port", name, p.HTTPGet.Port)
		}
	}
	if c.LivenessProbe != nil && c.ReadinessProbe != nil && (c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz") {
		t.Errorf("liveness %s, readiness %s: want /healthz (process up) and /readyz (Redis reachable)",
			c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	redisFromSecret := slices.ContainsFunc(c.Env, func(e envVar) bool {
		return e.Name == "BATON_REDIS_URL" && e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
	})
	if !redisFromSecret {
		t.Error("BATON_REDIS_URL does not come from a Secret")
	}
	if len(c.EnvFrom) == 0 || c.EnvFrom[0].SecretRef == nil {
		t.Error("the chat platforms' credentials do not come from a Secret (envFrom secretRef)")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("resource requests %v: want cpu and memory", c.Resources.Requests)
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("container securityContext %+v: want a read-only root filesystem and no privilege escalation", c.SecurityContext)
	}

	var pdb struct {
		Kind string `yaml:"kind"`
		Spec struct {
			MinAvailable int `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	load(t, "k8s/pdb.yaml", &pdb)
	if pdb.Kind != "PodDisruptionBudget" || pdb.Spec.MinAvailable < 1 || pdb.Spec.MinAvailable >= d.Spec.Replicas {
		t.Errorf("PDB kind %q minAvailable %d: want between 1 and %d", pdb.Kind, pdb.Spec.MinAvailable, d.Spec.Replicas-1)
	}
	if !equalLabels(pdb.Spec.Selector.MatchLabels, sel) {
		t.Errorf("PDB selector %v, want the Deployment's %v", pdb.Spec.Selector.MatchLabels, sel)
	}

	var svc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				TargetPort any `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	load(t, "k8s/service.yaml", &svc)
	if svc.Kind != "Service" || !equalLabels(svc.Spec.Selector, sel) {
		t.Errorf("Service kind %q selector %v, want the Deployment's %v", svc.Kind, svc.Spec.Selector, sel)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != c.Ports[0].Name && svc.Spec.Ports[0].TargetPort != uint64(port) {
		t.Errorf("Service ports %+v do not target the container port", svc.Spec.Ports)
	}

	var kz struct {
		Resources []string `yaml:"resources"`
	}
	load(t, "k8s/kustomization.yaml", &kz)
	for _, f := range kz.Resources {
		if _, err := os.Stat("k8s/" + f); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", f, err)
		}
	}
	if !slices.Equal(kz.Resources, []string{"deployment.yaml", "service.yaml", "pdb.yaml"}) {
		t.Errorf("kustomization resources %v", kz.Resources)
	}
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	port := defaultPort(t)
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Build *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	load(t, "compose.yaml", &c)
	b, ok := c.Services["baton"]
	if !ok || c.Services["redis"].Image == "" {
		t.Fatalf("services %v: want baton and redis", c.Services)
	}
	if got := b.Environment["BATON_REDIS_URL"]; !strings.HasPrefix(got, "redis://redis:") {
		t.Errorf("BATON_REDIS_URL %q: want the redis service", got)
	}
	if b.DependsOn["redis"].Condition != "service_healthy" {
		t.Errorf("baton does not wait for a healthy redis: %+v", b.DependsOn)
	}
	if b.Build == nil {
		t.Fatal("baton is not built from the Dockerfile")
	}
	if _, err := os.Stat(b.Build.Context + "/" + b.Build.Dockerfile); err != nil {
		t.Errorf("build: %v", err)
	}
	if len(b.Ports) != 1 || !strings.HasSuffix(b.Ports[0], ":"+strconv.Itoa(port)) || b.Environment["BATON_HTTP_ADDR"] != ":"+strconv.Itoa(port) {
		t.Errorf("ports %v, BATON_HTTP_ADDR %q: want the container port %d", b.Ports, b.Environment["BATON_HTTP_ADDR"], port)
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	port := defaultPort(t)
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(src)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 || froms[1][1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages %v: want a build stage and gcr.io/distroless/static-debian12:nonroot", froms)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 go build",
		"USER 65532:65532", // numeric, for runAsNonRoot
		"EXPOSE " + strconv.Itoa(port),
		`HEALTHCHECK`, `CMD ["/baton", "healthcheck"]`,
		`ENTRYPOINT ["/baton"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`BATON_HTTP_ADDR=(\S+)`).FindStringSubmatch(df); m == nil || m[1] != ":"+strconv.Itoa(port) {
		t.Errorf("Dockerfile BATON_HTTP_ADDR %v, want :%d", m, port)
	}
	var d deployment
	load(t, "k8s/deployment.yaml", &d)
	if d.Spec.Template.Spec.SecurityContext.RunAsUser != 65532 {
		t.Errorf("the Deployment runs as %d, the image as 65532", d.Spec.Template.Spec.SecurityContext.RunAsUser)
	}
}
