// Swagger UI over /api/openapi.json; writes carry the session's CSRF token (core_server_csrf).
window.addEventListener("load", function () {
  "use strict";
  var script = document.getElementById("docs-init");
  function csrf() {
    var m = document.cookie.match(/(?:^|; )core_server_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  window.ui = SwaggerUIBundle({
    url: script.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    validatorUrl: null,
    requestInterceptor: function (req) {
      if (!/^(GET|HEAD|OPTIONS)$/i.test(req.method || "GET") && csrf()) {
        req.headers["X-CSRF-Token"] = csrf();
      }
      return req;
    }
  });
});
