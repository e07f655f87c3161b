// Served by silo from its binary; no request leaves the server's origin.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
};
