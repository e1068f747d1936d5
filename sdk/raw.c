/*
 * raw.c: jz_request, a signed call to any route, for routes the typed calls do not cover yet
 * (and for tools such as `jiaozi demo` that drive every module).
 */
#include <string.h>

#include "sdk_int.h"

int jz_request(jz_client *client, const char *method, const char *path, const char *body,
               const char **response, size_t *response_len, jz_error *err)
{
    if (!client || !method || !path || path[0] != '/') {
        sdk_error_set(err, 0, "invalid_argument", "path", "a method and a path starting with /");
        return -1;
    }
    int rc = sdk_request(client, method, path, body, body ? strlen(body) : 0, true, err);
    if (rc == 0) {
        if (response) {
            *response = client->resp.body ? client->resp.body : "";
        }
        if (response_len) {
            *response_len = client->resp.body_len;
        }
    }
    return rc;
}
