"""Lazy catalog of the built-in nets: (kind, name, "module:attr", description). Imports nothing heavy."""

BUILTINS = [("classifiers", "mlp", "mebench.classifiers.nets.models:MLP",
             "Net: multi-layer perceptron on any feature vector (early stopping on training subjects)"),
            ("classifiers", "ststnet", "mebench.classifiers.nets.models:STSTNet",
             "Net: STSTNet, three shallow streams on 28x28 (u, v, strain) flow images"),
            ("classifiers", "off-apexnet", "mebench.classifiers.nets.models:OffApexNet",
             "Net: OFF-ApexNet, two streams on onset->apex flow (u, v) at 28x28"),
            ("classifiers", "resnet-e2e", "mebench.classifiers.nets.e2e:ResNetE2E",
             "Net: FPF (apex) + TMFE (motion) backbones fine-tuned end to end with a facial-region fusion head")]
