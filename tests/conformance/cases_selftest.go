package main

// The validator must not pass everything: fed replies that break the
// served descriptions, it must name each fault.

import "strings"

func init() {
	register("validator_rejects_bad_replies", "the reply validator flags undeclared, missing and mistyped fields and undeclared errors", func(t *T) {
		put := CallInfo{Method: "io.vaultd.records.Put"}
		get := CallInfo{Method: "io.vaultd.records.Get"}
		list := CallInfo{Method: "io.vaultd.records.List"}
		unseal := CallInfo{Method: "io.vaultd.admin.Unseal"}
		for _, tc := range []struct {
			call CallInfo
			msg  string
			want string // a problem must contain this; "" means valid
		}{
			{put, `{"parameters":{"version":1}}`, ""},
			{put, `{"parameters":{"version":1,"extra":true}}`, `field "extra" is not declared`},
			{put, `{"parameters":{}}`, `required field "version" missing`},
			{put, `{"parameters":{"version":"1"}}`, "want int"},
			{put, `{"parameters":{"version":1.5}}`, "is not an int"},
			{put, `{"parameters":{"version":null}}`, "not optional"},
			{put, `{"parameters":{"version":1},"continues":true}`, "continues:true"},
			{put, `{"parameters":{"version":1},"extra":1}`, `undeclared field "extra"`},
			{get, `{"parameters":{"version":1,"data":"","time":"t","size":0}}`, ""},
			{list, `{"parameters":{"records":[{"id":"a","version":1,"updated":"t"}]}}`, ""},
			{list, `{"parameters":{"records":[{"id":"a","version":1}]}}`, `required field "updated" missing`},
			{list, `{"parameters":{"records":[],"next":7}}`, "want string"},
			{put, `{"error":"io.vaultd.records.NotFound","parameters":{"collection":"c","id":"i"}}`, ""},
			{put, `{"error":"io.vaultd.records.NotFound","parameters":{"collection":"c"}}`, `required field "id" missing`},
			{put, `{"error":"io.vaultd.records.Nope","parameters":{}}`, "not declared by interface"},
			{put, `{"error":"io.vaultd.audit.AccessDenied","parameters":{"method":"m"}}`, "not from the interface of the method called"},
			{put, `{"error":"org.varlink.service.InvalidParameter","parameters":{"parameter":"p","reason":"r"}}`, `field "reason" is not declared`},
			{put, `{"error":"org.varlink.service.ExpectedMore","parameters":{}}`, ""},
			{put, `{"error":"org.varlink.service.InvalidParameter","parameters":{"parameter":"collection"}}`, "its failures are io.vaultd.records's own errors"},
			{put, `{"error":"org.varlink.service.PermissionDenied","parameters":{}}`, "its failures are io.vaultd.records's own errors"},
			{CallInfo{Method: "io.vaultd.records.Put", Upgrade: true}, `{"error":"org.varlink.service.InvalidParameter","parameters":{"parameter":"upgrade"}}`, ""},
			{CallInfo{Method: "io.vaultd.records.Put", Upgrade: true}, `{"parameters":{"version":1}}`, "accepts no upgrade"},
			{CallInfo{Method: "io.vaultd.records.Nope"}, `{"error":"org.varlink.service.MethodNotFound","parameters":{"method":"io.vaultd.records.Nope"}}`, ""},
			{CallInfo{Malformed: "not JSON"}, `{"parameters":{}}`, "non-error reply to a malformed call"},
			{CallInfo{Method: "io.vaultd.records.Nope"}, `{"parameters":{}}`, "which no known interface declares"},
			{get, `{"error":"io.vaultd.records.Sealed","parameters":{}}`, ""},
			{get, `{"error":"io.vaultd.records.Sealed","parameters":{"reason":"sealed"}}`, `field "reason" is not declared`},
			{get, `{"error":"io.vaultd.admin.Sealed","parameters":{}}`, "not from the interface of the method called"},
			{unseal, `{"parameters":{"state":"serving"}}`, ""},
			{unseal, `{"error":"io.vaultd.admin.WrongPassphrase","parameters":{}}`, `required field "retry_after" missing`},
			{unseal, `{"error":"io.vaultd.admin.TryLater","parameters":{"retry_after":"1"}}`, "want int"},
		} {
			_, probs := schema.CheckReply(tc.call, []byte(tc.msg))
			all := strings.Join(probs, "; ")
			if tc.want == "" && len(probs) > 0 {
				t.Errorf("%s to %s: flagged as %s", tc.msg, tc.call.Method, all)
			} else if tc.want != "" && !strings.Contains(all, tc.want) {
				t.Errorf("%s to %s: want a problem %q, got %q", tc.msg, tc.call.Method, tc.want, all)
			}
		}
	})
}
