package storagetest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CPU starts measuring the CPU time this process and the Redis server of c
// spend; the returned func reports both per op of b (baton-cpu-us/op,
// redis-cpu-us/op). On a shared machine these move less than throughput
// does: they say where the cost is, whatever else ran at the time. The
// Redis figure needs a standalone server (INFO cpu of one process) and
// counts everything it did meanwhile.
func CPU(b *testing.B, c redis.UniversalClient) (report func()) {
	p0, r0 := processCPU(), redisCPU(c)
	return func() {
		n := float64(b.N)
		if p1 := processCPU(); p0 >= 0 && p1 >= 0 {
			b.ReportMetric(float64((p1-p0).Microseconds())/n, "baton-cpu-us/op")
		}
		if r1 := redisCPU(c); r0 >= 0 && r1 >= 0 {
			b.ReportMetric((r1-r0)*1e6/n, "redis-cpu-us/op")
		}
	}
}

// redisCPU returns the seconds of CPU the Redis server has used, or -1.
func redisCPU(c redis.UniversalClient) float64 {
	cl, ok := c.(*redis.Client)
	if !ok {
		return -1
	}
	info, err := cl.Info(context.Background(), "cpu").Result()
	if err != nil {
		return -1
	}
	total := 0.0
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			total += f
		}
	}
	return total
}
