// Python entry points of the in-context deep-learning workload. Examples are
// rows (X: n x d, Y: n x d_out or n), as in the library.
// Everything is float64; a malformed argument raises ValueError naming it,
// an input outside the transformer's fitted ranges ValueError (checked inputs)
// or RuntimeError (a layer's range guard).
#include "icl_bindings.hpp"

#include "arguments.hpp"
#include "numpy_conversions.hpp"

#include <lorafgc/icl/icgd_transformer.hpp>
#include <lorafgc/icl/network.hpp>
#include <lorafgc/icl/projected_gd.hpp>

#include <pybind11/stl.h>

#include <chrono>
#include <cmath>

namespace lorafgc::python {
namespace {

using namespace lorafgc::icl;

int count(const py::handle& v, const char* name, Quantity q) { return int(count_arg(v, name, q)); }

NetworkShape make_shape(const py::handle& N, const py::handle& K, int d, const py::handle& d_out) {
  const NetworkShape s{count(N, "N", Quantity::layers), count(K, "K", Quantity::width), d,
                       count(d_out, "d_out", Quantity::width)};
  s.validate();
  return s;
}

Eigen::MatrixXd examples(const py::handle& X, const char* name, Eigen::Index cols = -1) {
  return to_float64_matrix(X, name, -1, cols);
}

// Y: (n, d_out), or (n,) when d_out = 1.
Eigen::MatrixXd labels(const py::handle& Y, int d_out) { return to_float64_matrix(Y, "Y", -1, d_out); }

Eigen::VectorXd vector_arg(const py::handle& v, const char* name) { return to_float64_matrix(v, name, -1, 1).col(0); }

struct Network {
  NetworkShape shape;
  Activation act;
  Eigen::MatrixXd X;
};

Network network(const py::handle& X, const py::handle& N, const py::handle& K, const py::handle& d_out, const std::string& activation) {
  Eigen::MatrixXd x = examples(X, "X");
  return {make_shape(N, K, int(x.cols()), d_out), parse_activation(activation), std::move(x)};
}

py::array_t<double> predict_py(const py::object& w, const py::object& X, const py::handle& N, const py::handle& K, const py::handle& d_out,
                               const std::string& activation) {
  const Network net = network(X, N, K, d_out, activation);
  return to_numpy(predict(net.shape, net.act, vector_arg(w, "w"), net.X));
}

double loss_py(const py::object& w, const py::object& X, const py::object& Y, const py::handle& N, const py::handle& K, const py::handle& d_out,
               const std::string& activation) {
  const Network net = network(X, N, K, d_out, activation);
  return empirical_loss(net.shape, net.act, vector_arg(w, "w"), net.X, labels(Y, net.shape.output_dim));
}

py::array_t<double> gradient_py(const py::object& w, const py::object& X, const py::object& Y, const py::handle& N, const py::handle& K,
                                const py::handle& d_out, const std::string& activation) {
  const Network net = network(X, N, K, d_out, activation);
  return to_numpy_vector(loss_gradient(net.shape, net.act, vector_arg(w, "w"), net.X, labels(Y, net.shape.output_dim)));
}

Eigen::MatrixXd stack(const std::vector<Eigen::VectorXd>& path) {
  Eigen::MatrixXd out(path.size(), path.front().size());
  for (std::size_t l = 0; l < path.size(); ++l) out.row(Eigen::Index(l)) = path[l].transpose();
  return out;
}

py::array_t<double> projected_gd_py(const py::object& w0, const py::object& X, const py::object& Y, const py::handle& N, const py::handle& K,
                                    const py::handle& d_out, const py::handle& eta, const py::handle& radius, const py::handle& steps, const std::string& activation) {
  const Network net = network(X, N, K, d_out, activation);
  const Eigen::VectorXd w = vector_arg(w0, "w0");
  const Eigen::MatrixXd y = labels(Y, net.shape.output_dim);
  std::vector<Eigen::VectorXd> path;
  {
    py::gil_scoped_release release;
    path = projected_gd(net.shape, net.act, w, net.X, y, real_arg(eta, "eta"), real_arg(radius, "radius"),
                        count(steps, "steps", Quantity::steps));
  }
  return to_numpy(stack(path));
}

IcgdConfig make_config(const py::handle& N, const py::handle& K, const py::handle& d, const py::handle& d_out, const py::handle& n, const py::handle& eta, const py::handle& radius, const py::handle& input_bound,
                       const py::handle& label_bound, const py::handle& steps, const std::string& activation, const py::object& fit_tolerance,
                       const py::object& relu_units, const py::object& gradient_accuracy) {
  IcgdConfig c;
  c.shape = make_shape(N, K, count(d, "d", Quantity::width), d_out);
  c.activation = parse_activation(activation);
  c.examples = count(n, "n", Quantity::examples);
  c.eta = real_arg(eta, "eta");
  c.radius = real_arg(radius, "radius");
  c.input_bound = real_arg(input_bound, "input_bound");
  c.label_bound = real_arg(label_bound, "label_bound");
  c.steps = count(steps, "steps", Quantity::steps);
  if (!fit_tolerance.is_none()) c.fit.tolerance = real_arg(fit_tolerance, "fit_tolerance");
  if (!relu_units.is_none()) c.fit.units = count(relu_units, "relu_units", Quantity::units);
  if (!gradient_accuracy.is_none()) c.gradient_accuracy = real_arg(gradient_accuracy, "gradient_accuracy");
  return c;
}

py::dict run_py(const IcgdTransformer& t, const py::object& X, const py::object& Y, const py::object& x_query,
                const py::object& w0) {
  const int d = t.config().shape.input_dim, d_out = t.config().shape.output_dim;
  const Eigen::MatrixXd x = examples(X, "X", d), y = labels(Y, d_out);
  const Eigen::VectorXd q = vector_arg(x_query, "x_query"), w = vector_arg(w0, "w0");
  IcgdRun run;
  double seconds = 0;
  {
    py::gil_scoped_release release;
    const auto start = std::chrono::steady_clock::now();
    run = t.run(x, y, q, w);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  py::dict out;
  out["w"] = to_numpy(stack(run.w));
  out["prediction"] = to_numpy_vector(run.prediction);
  out["flops"] = run.flops;
  out["seconds"] = seconds;
  return out;
}

py::dict bounds_dict(const IcgdBounds& b) {
  py::dict out;
  out["preactivation"] = b.preactivation;
  out["activation"] = b.activation;
  out["fit_range"] = b.fit_range;
  out["loss_range"] = b.loss_range;
  out["forward_error"] = b.forward_error;
  out["r_prime_error"] = b.r_prime_error;
  out["backward_bound"] = b.backward_bound;
  out["backward_error"] = b.backward_error;
  out["gradient_error"] = b.gradient_error;
  return out;
}

py::dict fit_dict(const ReluSum& fit, Activation act, FittedFunction which) {
  py::dict out;
  out["units"] = fit.units.size();
  out["range"] = fit.range;
  out["error_bound"] = fit.error_bound;
  out["measured_error"] = measured_error(fit, act, which);
  out["coefficient_sum"] = fit.coefficient_sum();
  out["knots"] = fit.knots;
  return out;
}

py::list layer_summaries(const IcgdTransformer& t) {
  py::list out;
  const auto D = t.layout().dim;
  const auto T = t.config().examples + 1;
  for (int l = 0; l < t.block_layer_count(); ++l) {
    const Layer& layer = *t.layers()[l];
    Eigen::Index head_dim = 0;
    for (const auto& h : layer.heads) head_dim = std::max(head_dim, h.query.rows());
    py::dict d;
    d["kind"] = layer_kind_name(layer.kind);
    d["role"] = layer.role;
    d["heads"] = layer.heads.size();
    d["head_dim"] = head_dim;
    d["mlp_hidden"] = layer.kind == LayerKind::mlp ? layer.hidden() : 0;
    d["flops"] = layer_flops(layer, D, T);
    d["dense_flops"] = dense_layer_flops(layer, D, T);
    out.append(d);
  }
  return out;
}

}  // namespace

void bind_icl(py::module_& m) {
  m.def("predict", &predict_py, py::arg("w"), py::arg("X"), py::arg("N"), py::arg("K"), py::arg("d_out") = 1,
        py::arg("activation") = "softplus",
        "f(w, x) of the N-layer network (Definition 1) for every row of X: (n, d_out).");
  m.def("loss", &loss_py, py::arg("w"), py::arg("X"), py::arg("Y"), py::arg("N"), py::arg("K"),
        py::arg("d_out") = 1, py::arg("activation") = "softplus", "L_n(w) = 1/(2n) sum_i ||f(w, x_i) - y_i||^2.");
  m.def("gradient", &gradient_py, py::arg("w"), py::arg("X"), py::arg("Y"), py::arg("N"), py::arg("K"),
        py::arg("d_out") = 1, py::arg("activation") = "softplus", "grad L_n(w) by the Lemma-1 decomposition.");
  m.def("projected_gd", &projected_gd_py, py::arg("w0"), py::arg("X"), py::arg("Y"), py::arg("N"), py::arg("K"),
        py::arg("d_out") = 1, py::arg("eta") = 0.1, py::arg("radius") = 1.0, py::arg("steps") = 1,
        py::arg("activation") = "softplus",
        "Direct projected GD on the box |w_m| <= radius: the iterates w^0..w^steps as rows.");

  py::class_<IcgdTransformer>(m, "IcgdTransformer",
                              "The explicit (2N+4)L-layer ReLU transformer of Wu et al. (ICML 2025) that runs L "
                              "projected GD steps on an N-layer network in context.")
      .def(py::init([](const py::handle& N, const py::handle& K, const py::handle& d, const py::handle& d_out, const py::handle& n, const py::handle& eta, const py::handle& radius, const py::handle& input_bound,
                       const py::handle& label_bound, const py::handle& steps, const std::string& activation, const py::object& fit_tolerance,
                       const py::object& relu_units, const py::object& gradient_accuracy) {
             const IcgdConfig c = make_config(N, K, d, d_out, n, eta, radius, input_bound, label_bound, steps,
                                              activation, fit_tolerance, relu_units, gradient_accuracy);
             py::gil_scoped_release release;
             return std::make_unique<IcgdTransformer>(c);
           }),
           py::arg("N"), py::arg("K"), py::arg("d"), py::arg("d_out") = 1, py::arg("n") = 16, py::arg("eta") = 0.1,
           py::arg("radius") = 1.0, py::arg("input_bound") = 1.0, py::arg("label_bound") = 1.0, py::arg("steps") = 1,
           py::arg("activation") = "softplus", py::arg("fit_tolerance") = py::none(),
           py::arg("relu_units") = py::none(), py::arg("gradient_accuracy") = py::none())
      .def("run", &run_py, py::arg("X"), py::arg("Y"), py::arg("x_query"), py::arg("w0"),
           "Runs the prompt through every layer: w after each block (rows w^0..w^L), the query prediction "
           "f(w^L, x_query) from the readout, the executed FLOPs and the wall time.")
      .def_property_readonly("gd_layers", &IcgdTransformer::gd_layer_count)
      .def_property_readonly("total_layers", [](const IcgdTransformer& t) { return int(t.layers().size()); })
      .def_property_readonly("block_layers", &IcgdTransformer::block_layer_count)
      .def_property_readonly("token_dim", [](const IcgdTransformer& t) { return t.layout().dim; })
      .def_property_readonly("parameter_count", [](const IcgdTransformer& t) { return t.config().shape.parameter_count(); })
      .def_property_readonly("block_heads", &IcgdTransformer::block_heads)
      .def_property_readonly("max_heads_per_layer", &IcgdTransformer::max_heads_per_layer)
      .def_property_readonly("block_flops", &IcgdTransformer::block_flops)
      .def_property_readonly("block_dense_flops", &IcgdTransformer::block_dense_flops)
      .def_property_readonly("bounds", [](const IcgdTransformer& t) { return bounds_dict(t.bounds()); })
      .def_property_readonly("fit_r", [](const IcgdTransformer& t) {
        return fit_dict(t.fit_r(), t.config().activation, FittedFunction::r);
      })
      .def_property_readonly("fit_r_prime", [](const IcgdTransformer& t) {
        return fit_dict(t.fit_r_prime(), t.config().activation, FittedFunction::r_prime);
      })
      .def_property_readonly("block", &layer_summaries, "One dict per layer of a GD block.");
}

}  // namespace lorafgc::python
