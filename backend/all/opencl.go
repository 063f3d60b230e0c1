//go:build opencl

package all

import _ "github.com/diynn/diynn/backend/opencl" // -tags opencl
