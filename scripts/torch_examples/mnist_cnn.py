# PyTorch twin of examples/mnist_cnn.rs: pytorch/examples' mnist/main.py as it runs on the
# CPU, reading the same local IDX files instead of torchvision's download (no torchvision
# needed). Net, train, test, main and the flags are main.py's; the additions, the same in
# the Rust port, are marked "addition": --dataset fashion-mnist, --data-dir, --limit /
# --test-limit, the epoch's training time on stderr, and torch.set_num_threads(2)
# (override with TORCH_THREADS).
#
# Run from the repository root:
#   ~/torchenv/bin/python scripts/torch_examples/mnist_cnn.py --epochs 1
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))


def read_idx(path, limit):
    """An IDX file (gzipped), its first `limit` items (addition: replaces torchvision)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return arr[:limit] if limit is not None else arr


def dataset(args, train):
    """datasets.MNIST(..., transform=Compose([ToTensor(), Normalize((0.1307,), (0.3081,))]))
    as a TensorDataset (addition: the same samples, converted once)."""
    name = "fashion-mnist" if args.dataset == "fashion-mnist" else "mnist"
    # As kiln searches: DIR itself, then DIR/<name>; without --data-dir, ./data/<name>,
    # the repository's data/<name>, and where Debian's dataset packages put it.
    dirs = [args.data_dir, os.path.join(args.data_dir, name)] if args.data_dir else [
        os.path.join("data", name), os.path.join(ROOT, "data", name),
        "/usr/share/datasets/" + name]
    prefix = "train" if train else "t10k"
    limit = args.limit if train else args.test_limit
    for d in dirs:
        images = os.path.join(d, prefix + "-images-idx3-ubyte.gz")
        if os.path.exists(images):
            x = read_idx(images, limit)
            y = read_idx(os.path.join(d, prefix + "-labels-idx1-ubyte.gz"), limit)
            break
    else:
        sys.exit("no %s files in %s" % (name, dirs))
    x = torch.from_numpy(x.copy()).unsqueeze(1).float().div(255)  # ToTensor
    mean = torch.as_tensor((0.1307,)).view(-1, 1, 1)
    std = torch.as_tensor((0.3081,)).view(-1, 1, 1)
    x = x.sub_(mean).div_(std)  # Normalize
    return torch.utils.data.TensorDataset(x, torch.from_numpy(y.astype(np.int64)))


def main():
    # Training settings
    parser = argparse.ArgumentParser(description='PyTorch MNIST Example')
    parser.add_argument('--batch-size', type=int, default=64, metavar='N',
                        help='input batch size for training (default: 64)')
    parser.add_argument('--test-batch-size', type=int, default=1000, metavar='N',
                        help='input batch size for testing (default: 1000)')
    parser.add_argument('--epochs', type=int, default=14, metavar='N',
                        help='number of epochs to train (default: 14)')
    parser.add_argument('--lr', type=float, default=1.0, metavar='LR',
                        help='learning rate (default: 1.0)')
    parser.add_argument('--gamma', type=float, default=0.7, metavar='M',
                        help='Learning rate step gamma (default: 0.7)')
    parser.add_argument('--no-accel', action='store_true',
                        help='disables accelerator')
    parser.add_argument('--dry-run', action='store_true',
                        help='quickly check a single pass')
    parser.add_argument('--seed', type=int, default=1, metavar='S',
                        help='random seed (default: 1)')
    parser.add_argument('--log-interval', type=int, default=10, metavar='N',
                        help='how many batches to wait before logging training status')
    parser.add_argument('--save-model', action='store_true',
                        help='For Saving the current Model')
    # additions
    parser.add_argument('--dataset', choices=['mnist', 'fashion-mnist'], default='mnist')
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--limit', type=int, default=None)
    parser.add_argument('--test-limit', type=int, default=None)
    args = parser.parse_args()

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))  # addition
    torch.manual_seed(args.seed)

    device = torch.device("cpu")

    train_kwargs = {'batch_size': args.batch_size}
    test_kwargs = {'batch_size': args.test_batch_size}

    dataset1 = dataset(args, train=True)
    dataset2 = dataset(args, train=False)
    train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
    test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()  # addition
        train(args, model, device, train_loader, optimizer, epoch)
        print("epoch %d: trained in %.2f s" % (epoch, time.perf_counter() - start),
              file=sys.stderr)  # addition
        test(model, device, test_loader)
        scheduler.step()

    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")


if __name__ == '__main__':
    main()
