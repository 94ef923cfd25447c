# PyTorch twin of examples/architectures.rs: the tutorial's Encoder, Decoder,
# ResidualBlock and NormalizedMLP, in train and eval mode, with parameter counts.
import torch
import torch.nn as nn

torch.manual_seed(0)


# 1. 逐渐缩小(分类常用)
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(784, 256),
            nn.ReLU(),
            nn.Linear(256, 64),
            nn.ReLU(),
            nn.Linear(64, 10)
        )

    def forward(self, x):
        return self.layers(x)


# 2. 逐渐扩大(生成常用)
class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(10, 64),
            nn.ReLU(),
            nn.Linear(64, 256),
            nn.ReLU(),
            nn.Linear(256, 784)
        )

    def forward(self, x):
        return self.layers(x)


# 3. 残差连接(深层网络)
class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(dim, dim),
            nn.ReLU(),
            nn.Linear(dim, dim)
        )

    def forward(self, x):
        return x + self.layers(x)  # 残差连接


# 4. 批归一化(加速训练)
class NormalizedMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(784, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.Linear(256, 10)
        )

    def forward(self, x):
        return self.layers(x)


def count(model):
    return sum(p.numel() for p in model.parameters())


for name, make, in_dim in [("Encoder", Encoder, 784), ("Decoder", Decoder, 10),
                           ("ResidualBlock", lambda: ResidualBlock(64), 64),
                           ("NormalizedMLP", NormalizedMLP, 784)]:
    model = make()
    x = torch.randn(8, in_dim)
    print(model)
    print(f"{name} 参数量: {count(model):,}")
    model.train()
    y_train = model(x)
    model.eval()
    with torch.no_grad():
        y_eval = model(x)
    print(f"输入 {tuple(x.shape)} -> 输出 {tuple(y_train.shape)}")
    print(f"train/eval 输出相同: {torch.allclose(y_train, y_eval)}")
    print("eval 输出[0, :4]:", y_eval[0, :4])
    print()

bn = model.layers[1]
print("running_mean[:4]:", bn.running_mean[:4])
print("running_var[:4]:", bn.running_var[:4])
print("num_batches_tracked:", bn.num_batches_tracked)
