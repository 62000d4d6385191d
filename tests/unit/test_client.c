/* The atolld API client against a canned atolld on a unix socket. */
#include "atoll-client.h"
#include "api_test_peer.h"

typedef struct {
	TestPeer *peer;
	AtollClient *client;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->peer = peer_new();
	f->client = atoll_client_new(f->peer->socket_path);
}

static void teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	g_object_unref(f->client);
	peer_free(f->peer);
}

static const char *list_json =
	"[{\"name\": \"web\", \"state\": \"running\", \"id\": 4242, \"memory_mib\": 1024,"
	"  \"vcpus\": 2, \"cpu_time_s\": 12.5, \"uptime_s\": 60, \"label\": null,"
	"  \"autostart\": false},"
	" {\"name\": \"db\", \"state\": \"shutoff\", \"id\": null, \"memory_mib\": 512,"
	"  \"vcpus\": 1, \"cpu_time_s\": 0, \"uptime_s\": 0, \"autostart\": true}]";

static void test_list(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "GET /v1/domains", 200, list_json);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_list_domains(f->client, &error);
	g_assert_no_error(error);
	JsonArray *arr = atoll_client_reply_array(reply, "domains");
	g_assert_nonnull(arr);
	g_assert_cmpuint(json_array_get_length(arr), ==, 2);
	JsonObject *web = json_array_get_object_element(arr, 0);
	g_assert_cmpstr(json_object_get_string_member(web, "name"), ==, "web");
	g_assert_cmpint(json_object_get_int_member(web, "id"), ==, 4242);
	g_autofree char *log = peer_take_log(f->peer);
	g_assert_cmpstr(log, ==, "GET /v1/domains \n");
}

static void test_reply_array_object_form(void)
{
	g_autoptr(JsonNode) n = json_from_string("{\"domains\": [{\"name\": \"a\"}]}", NULL);
	JsonArray *arr = atoll_client_reply_array(n, "domains");
	g_assert_nonnull(arr);
	g_assert_cmpuint(json_array_get_length(arr), ==, 1);
	g_assert_null(atoll_client_reply_array(n, "networks"));
}

static void test_define_body(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "POST /v1/domains", 201, "{\"name\": \"web\", \"vcpus\": 2}");
	g_autoptr(JsonNode) def = json_from_string("{\"name\":\"web\",\"vcpus\":2}", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = atoll_client_define(f->client, def, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(reply), "name"),
			==, "web");
	g_autofree char *log = peer_take_log(f->peer);
	g_assert_cmpstr(log, ==, "POST /v1/domains {\"name\":\"web\",\"vcpus\":2}\n");
}

static void test_actions_paths(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "POST /v1/domains/web/start", 204, NULL);
	peer_reply(f->peer, "POST /v1/domains/web/shutdown", 202, "{}");
	peer_reply(f->peer, "DELETE /v1/domains/web", 204, NULL);
	peer_reply(f->peer, "GET /v1/domains/web/stats", 200, "[]");
	peer_reply(f->peer, "GET /v1/host/devices", 200, "[]");
	peer_reply(f->peer, "POST /v1/import-libvirt", 201, "{\"name\": \"new\", \"unmapped\": []}");
	g_autoptr(GError) error = NULL;
	g_assert_true(atoll_client_domain_action(f->client, "web", "start", &error));
	g_assert_true(atoll_client_shutdown(f->client, "web", 30, &error));
	g_assert_true(atoll_client_shutdown(f->client, "web", -1, &error));
	g_assert_true(atoll_client_undefine(f->client, "web", TRUE, &error));
	g_assert_true(atoll_client_undefine(f->client, "web", FALSE, &error));
	g_autoptr(JsonNode) s = atoll_client_get_stats(f->client, "web", 1700000000, &error);
	g_autoptr(JsonNode) d = atoll_client_list_host_devices(f->client, "usb", &error);
	g_autoptr(JsonNode) i = atoll_client_import_libvirt(f->client, "qemu:///system", "vm1",
							    "new", &error);
	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(s) && JSON_NODE_HOLDS_ARRAY(d));
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(i), "name"), ==, "new");
	g_autofree char *log = peer_take_log(f->peer);
	g_assert_cmpstr(log, ==,
		"POST /v1/domains/web/start \n"
		"POST /v1/domains/web/shutdown {\"timeout_s\":30}\n"
		"POST /v1/domains/web/shutdown {}\n"
		"DELETE /v1/domains/web?delete_disks=true \n"
		"DELETE /v1/domains/web \n"
		"GET /v1/domains/web/stats?since=1700000000 \n"
		"GET /v1/host/devices?type=usb \n"
		"POST /v1/import-libvirt {\"uri\":\"qemu:///system\",\"domain\":\"vm1\",\"name\":\"new\"}\n");
}

static void test_domain_path_escapes(void)
{
	g_autofree char *p = atoll_client_domain_path("a b/c", "/start");
	g_assert_cmpstr(p, ==, "/v1/domains/a%20b%2Fc/start");
}

static void test_error_conflict(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "POST /v1/domains/web/start", 409,
		   "{\"error\": {\"code\": \"conflict\", \"message\": \"web is running\"}}");
	g_autoptr(GError) error = NULL;
	g_assert_false(atoll_client_domain_action(f->client, "web", "start", &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_CONFLICT);
	g_assert_cmpstr(error->message, ==, "web is running");
	g_assert_cmpstr(atoll_client_error_get_kind(error), ==, "conflict");
	g_assert_null(atoll_client_error_get_field(error));
	g_assert_cmpuint(atoll_client_error_get_status(error), ==, 409);
}

static void test_error_field(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "POST /v1/domains", 400,
		   "{\"error\": {\"code\": \"bad-request\", \"message\": \"no such file\","
		   " \"field\": \"disks[1].path\"}}");
	g_autoptr(JsonNode) def = json_from_string("{\"name\":\"x\"}", NULL);
	g_autoptr(GError) error = NULL;
	g_assert_null(atoll_client_define(f->client, def, &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_BAD_REQUEST);
	g_assert_cmpstr(atoll_client_error_get_field(error), ==, "disks[1].path");
	/* The extended error data survives a copy (g_propagate, GTask). */
	g_autoptr(GError) copy = g_error_copy(error);
	g_assert_cmpstr(atoll_client_error_get_field(copy), ==, "disks[1].path");
	g_assert_cmpstr(atoll_client_error_get_kind(copy), ==, "bad-request");
}

static void test_error_not_found_and_status_only(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_assert_null(atoll_client_get_domain(f->client, "nope", &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* No error body: the status decides. */
	peer_reply(f->peer, "GET /v1/host", 500, NULL);
	g_assert_null(atoll_client_request(f->client, "GET", "/v1/host", NULL, NULL, &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_HOST);
	g_assert_null(atoll_client_error_get_kind(error));
	g_clear_error(&error);

	peer_reply(f->peer, "GET /v1/networks", 200, "this is not json");
	g_assert_null(atoll_client_list_networks(f->client, &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_PROTOCOL);
}

static void test_empty_reply_is_null_node(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "POST /v1/domains/web/pause", 204, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) n = atoll_client_request(f->client, "POST",
		"/v1/domains/web/pause", NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_NULL(n));
}

static void test_unreachable(void)
{
	g_autoptr(AtollClient) c = atoll_client_new("/nonexistent/atoll/atolld.sock");
	g_autoptr(GError) error = NULL;
	g_assert_null(atoll_client_list_domains(c, &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE);
	g_assert_nonnull(strstr(error->message, "/nonexistent/atoll/atolld.sock"));
}

static void test_default_socket(void)
{
	g_unsetenv("ATOLL_SOCKET");
	g_assert_cmpstr(atoll_client_default_socket(), ==, "/run/atoll/atolld.sock");
	g_setenv("ATOLL_SOCKET", "/tmp/other.sock", TRUE);
	g_autoptr(AtollClient) c = atoll_client_new(NULL);
	g_assert_cmpstr(atoll_client_get_socket_path(c), ==, "/tmp/other.sock");
	g_setenv("ATOLL_SOCKET", "", TRUE);
	g_assert_cmpstr(atoll_client_default_socket(), ==, "/run/atoll/atolld.sock");
	g_unsetenv("ATOLL_SOCKET");
}

static void store_result(GObject *src, GAsyncResult *res, gpointer data)
{
	(void)src;
	*(GAsyncResult **)data = g_object_ref(res);
}

static GAsyncResult *wait_result(GAsyncResult **slot)
{
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!*slot && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_assert_nonnull(*slot);
	return *slot;
}

static void test_async_request(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply(f->peer, "GET /v1/host", 200, "{\"version\": \"0.1.0\", \"kvm\": true}");
	peer_reply(f->peer, "POST /v1/domains/web/start", 409,
		   "{\"error\": {\"code\": \"conflict\", \"message\": \"running\"}}");
	GAsyncResult *res = NULL;
	atoll_client_request_async(f->client, "GET", "/v1/host", NULL, NULL, store_result, &res);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) host = atoll_client_request_finish(f->client, wait_result(&res), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(host), "version"),
			==, "0.1.0");
	g_clear_object(&res);

	atoll_client_request_async(f->client, "POST", "/v1/domains/web/start", NULL, NULL,
				   store_result, &res);
	g_assert_null(atoll_client_request_finish(f->client, wait_result(&res), &error));
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_CONFLICT);
	g_clear_object(&res);
}

static void on_text(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data)
{
	(void)ws;
	(void)type;
	gsize len;
	const char *s = g_bytes_get_data(msg, &len);
	*(char **)data = g_strndup(s, len);
}

static void test_websocket_events(Fixture *f, gconstpointer data)
{
	(void)data;
	peer_reply_with_event(f->peer, "POST /v1/domains/web/destroy", 204, NULL,
		"{\"type\": \"domain-state\", \"name\": \"web\", \"state\": \"shutoff\"}");
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupWebsocketConnection) ws =
		atoll_client_websocket_connect(f->client, "/v1/events", NULL, &error);
	g_assert_no_error(error);
	char *got = NULL;
	g_signal_connect(ws, "message", G_CALLBACK(on_text), &got);
	g_assert_true(atoll_client_domain_action(f->client, "web", "destroy", &error));
	gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!got && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpstr(got, ==, "{\"type\": \"domain-state\", \"name\": \"web\", \"state\": \"shutoff\"}");
	g_free(got);
	g_signal_handlers_disconnect_by_data(ws, &got);
}

static void test_websocket_not_found(Fixture *f, gconstpointer data)
{
	(void)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupWebsocketConnection) ws =
		atoll_client_websocket_connect(f->client, "/v1/domains/nope/console", NULL, &error);
	g_assert_null(ws);
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_NOT_FOUND);
}

static void test_websocket_unreachable(void)
{
	g_autoptr(AtollClient) c = atoll_client_new("/nonexistent/atolld.sock");
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupWebsocketConnection) ws =
		atoll_client_websocket_connect(c, "/v1/events", NULL, &error);
	g_assert_null(ws);
	g_assert_error(error, ATOLL_CLIENT_ERROR, ATOLL_CLIENT_ERROR_UNREACHABLE);
}

#define PEER_TEST(path, fn) \
	g_test_add(path, Fixture, NULL, setup, fn, teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	PEER_TEST("/client/list", test_list);
	PEER_TEST("/client/define-body", test_define_body);
	PEER_TEST("/client/action-paths", test_actions_paths);
	PEER_TEST("/client/error/conflict", test_error_conflict);
	PEER_TEST("/client/error/field", test_error_field);
	PEER_TEST("/client/error/not-found-status-only", test_error_not_found_and_status_only);
	PEER_TEST("/client/empty-reply", test_empty_reply_is_null_node);
	PEER_TEST("/client/async", test_async_request);
	PEER_TEST("/client/websocket/events", test_websocket_events);
	PEER_TEST("/client/websocket/not-found", test_websocket_not_found);
	g_test_add_func("/client/reply-array-object", test_reply_array_object_form);
	g_test_add_func("/client/domain-path-escapes", test_domain_path_escapes);
	g_test_add_func("/client/unreachable", test_unreachable);
	g_test_add_func("/client/websocket/unreachable", test_websocket_unreachable);
	g_test_add_func("/client/default-socket", test_default_socket);
	return g_test_run();
}
