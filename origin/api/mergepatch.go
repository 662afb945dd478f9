package api

// mergePatch applies an RFC 7396 JSON merge patch to target (section 2):
// members of patch replace those of target, null removes a member, and
// objects merge recursively; arrays and scalars are replaced whole. target
// is modified in place and returned.
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			tv, _ := target[k].(map[string]any)
			target[k] = mergePatch(tv, pv)
		default:
			target[k] = v
		}
	}
	return target
}
